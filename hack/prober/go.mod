// The health-check prober of Lightship's public endpoints (see README.md): standard library only.
module lightship.dev/hack/prober

go 1.26.0
