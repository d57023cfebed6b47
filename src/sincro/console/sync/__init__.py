"""Console section: ERP sync status (Sincronização)."""
