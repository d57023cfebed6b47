"""Simulated ERPs (SAP drop folders, Protheus and JSON REST) for the demo and the tests."""
