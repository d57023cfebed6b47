"""SAP ECC file drops: MARD/MB52 stock snapshots, WMMBXY goods movements, write-back files."""
