# Example variables: packer validate -var-file=packer/digitalocean/example.pkrvars.hcl packer/digitalocean.
# The token below is a placeholder: for a build, drop that line and export
# DIGITALOCEAN_TOKEN (a real token never goes into a file like this one).
bos_iso_url = "https://github.com/bhojpur/os/releases/download/v0.10.0/bos-amd64.iso"
api_token   = "example-token-not-a-real-one"
