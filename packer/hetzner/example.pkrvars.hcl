# Example variables: packer validate -var-file=packer/hetzner/example.pkrvars.hcl packer/hetzner.
# The token below is a placeholder: for a build, drop that line and export
# HCLOUD_TOKEN (a real token never goes into a file like this one).
bos_iso_url  = "https://github.com/bhojpur/os/releases/download/v0.10.0/bos-amd64.iso"
hcloud_token = "example-token-not-a-real-one"
