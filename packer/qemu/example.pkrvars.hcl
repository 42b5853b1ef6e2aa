# Example variables: packer build -var-file=packer/qemu/example.pkrvars.hcl packer/qemu
# (from the repository's top directory, after make iso). The checksum here is
# a placeholder that validates but does not match: take the ISO's line of
# dist/artifacts/sha256sum-amd64.txt, or say
# iso_checksum = "file:dist/artifacts/sha256sum-amd64.txt" (Packer reads that
# file already when it validates).
iso_url      = "dist/artifacts/bos-amd64.iso"
iso_checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
kernel       = "dist/artifacts/bos-vmlinuz-amd64"
initrd       = "dist/artifacts/bos-initrd-amd64"
config_dir   = "packer/qemu/example"
accelerator  = "tcg"
