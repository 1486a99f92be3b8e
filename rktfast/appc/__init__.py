"""appc 0.8.11 schema: types, image and pod manifests, isolators."""
