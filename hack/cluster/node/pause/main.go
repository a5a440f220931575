// Command pause is the sandbox ("pause") image of the local cluster's real node: it holds a
// pod's namespaces and does nothing until told to stop. The usual image cannot be pulled here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
