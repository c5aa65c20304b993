"""Example sources used by the repository's pipelines.yaml."""
