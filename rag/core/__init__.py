"""The core every other layer builds on: errors, hashing, the data model (schema), stages and pipelines,
the content-addressed cache, the one registry, YAML config reading, progress, provenance, secrets and the
executor that shards a stage (locally or on Ray). Nothing here imports a layer above it."""
