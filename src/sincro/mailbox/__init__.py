"""The demo mailbox: a local SMTP sink that keeps what it receives, the console's view of it,
and the embedded IMAP server of the demo (``sincro mail sink``, ``sincro mail imap``)."""
