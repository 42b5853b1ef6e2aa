# Example variables: packer build -var-file=packer/gcp/example.pkrvars.hcl packer/gcp
bos_iso_url = "https://github.com/bhojpur/os/releases/download/v0.10.0/bos-amd64.iso"
project_id  = "my-project"
