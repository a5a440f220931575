// The test application of the local cluster (see README.md): standard library only.
module lightship.dev/hack/testapp

go 1.26.0
