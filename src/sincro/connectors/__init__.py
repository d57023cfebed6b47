"""ERP connectors: SAP file drops, REST ERPs, write-back, and the sync machinery around them."""
