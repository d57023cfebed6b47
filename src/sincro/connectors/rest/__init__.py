"""REST ERPs: a Protheus-style ERP and a JSON ERP, mapped declaratively onto Sincro's models."""
