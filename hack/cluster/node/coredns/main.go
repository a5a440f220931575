// Command coredns is the cluster DNS of the local cluster's real node: CoreDNS with only the
// plugins its Corefile uses. CoreDNS's own main links every plugin (cloud DNS providers
// included), which takes far longer to build; its docs describe this way of choosing plugins.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
