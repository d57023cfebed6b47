"""Marketing automation from conversations: the assistant's interactions become interests,
and rules turn interests into offers sent through messaging (consent, caps, quiet hours, once
per trigger), with their conversions."""
