"""Stock wishes ("Avise-me"): the one list of customers waiting for a SKU at a place, and the
back-in-stock notice the inventory change feed triggers once per wish."""
