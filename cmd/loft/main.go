// Command loft is the Loft message broker: one binary offering
// RabbitMQ-style queues and Kafka-style streams on one durable log engine.
//
// Usage:
//
//	loft serve [flags]   run the broker (see loft serve --help)
//	loft version         print the version
//	loft status|queue|exchange|bind|publish|consume|definitions|user ...
//	                     talk to a running broker's HTTP API (--server)
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// run is main without the process: it returns the exit status, 1 for any
// error, whose message goes to stderr prefixed with "loft: ".
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	root := newRootCmd(lookupEnv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "loft: %v\n", err)
		return 1
	}
	return 0
}

func newRootCmd(lookupEnv func(string) (string, bool)) *cobra.Command {
	root := &cobra.Command{
		Use:   "loft",
		Short: "Loft is a message broker: queues and streams on one durable log",
		Long: `Loft is a message broker shipped as one binary. It offers RabbitMQ-style
queues and Kafka-style streams on one durable log engine, and acknowledges
a message only once it is fsynced.`,
		// Errors are printed once, by run, without a usage dump that would
		// bury a startup failure.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(newServeCmd(lookupEnv), newVersionCmd())
	root.AddCommand(newClientCmds(lookupEnv)...)
	return root
}
