"""The e-mail sign-up service: an IMAP inbox watched for sign-up replies (issue #9, section 5)."""
