# Example variables: from the repository's top directory, after make iso and
# make debian-disk, with a key pair made for the build
# (ssh-keygen -t ed25519 -N '' -f build/packer/id_ed25519):
#   packer build -var-file=packer/qemu-takeover/example.pkrvars.hcl \
#     -var base_image_checksum=sha256:$(sha256sum build/images/debian-takeover.raw | cut -d' ' -f1) \
#     packer/qemu-takeover
base_image           = "build/images/debian-takeover.raw"
base_image_checksum  = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
artifacts_dir        = "dist/artifacts"
config_file          = "packer/qemu/example/config.yaml"
ssh_private_key_file = "build/packer/id_ed25519"
ssh_public_key_file  = "build/packer/id_ed25519.pub"
accelerator          = "tcg"
