module lightship.dev/hack/cluster/node/pause

go 1.26.0
