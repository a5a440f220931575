// Command etcd is the etcd server, built from its Go module: `go install` of the etcd server
// itself fails on the replace directives of its own go.mod, so this wrapper calls its entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
