"""Docker and OCI images: registry client, conversion to appc (docker2aci's rules), layers."""
