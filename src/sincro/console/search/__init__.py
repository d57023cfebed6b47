"""Console section: document and product search for customer service (Busca)."""
