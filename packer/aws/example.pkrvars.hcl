# Example variables: packer build -var-file=packer/aws/example.pkrvars.hcl packer/aws
bos_iso_url = "https://github.com/bhojpur/os/releases/download/v0.10.0/bos-amd64.iso"
region      = "eu-central-1"
