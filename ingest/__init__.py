"""Ingestion: fetching, crawling and parsing source content into the knowledge base."""
