// Command fleetprune is the one binary of fleetprune: the coordinator, the agent, the
// embedded all-in-one mode, the demo and the model tools. It only wires packages
// together; the logic lives in them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fleetprune:", err)
		stop()
		os.Exit(1)
	}
}
