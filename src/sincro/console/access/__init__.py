"""Console pages of the access domain: the audit log ("Auditoria")."""
