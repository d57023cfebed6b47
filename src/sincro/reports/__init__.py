"""Reports: consolidated reports (new customers, defaulters, billing, campaign results) in the
API, the console (with charts) and CSV, and report e-mails on a schedule."""
