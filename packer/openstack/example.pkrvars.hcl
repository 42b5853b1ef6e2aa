# Example variables: packer validate -var-file=packer/openstack/example.pkrvars.hcl packer/openstack.
# The credentials below are placeholders: for a build, drop those lines and
# source your project's openrc (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, ...);
# a real password never goes into a file like this one.
bos_iso_url       = "https://github.com/bhojpur/os/releases/download/v0.10.0/bos-amd64.iso"
identity_endpoint = "https://keystone.example.net:5000/v3"
username          = "example-user"
password          = "example-password-not-a-real-one"
domain_name       = "Default"
tenant_name       = "example-project"
region            = "RegionOne"
flavor            = "m1.small"
source_image_name = "Debian 12"
