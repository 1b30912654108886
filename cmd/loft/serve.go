package main

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/loftmq/loft/internal/config"
	"github.com/loftmq/loft/internal/server"
	"github.com/spf13/cobra"
)

func newServeCmd(lookupEnv func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker",
		Long: `Run the broker until SIGINT or SIGTERM, then shut down gracefully.

Every setting can also be given as a LOFT_* environment variable (shown in
brackets) or as a key of the YAML file named by --config, keyed by flag
name. Flags override the environment, which overrides the file.`,
		Args: cobra.NoArgs,
	}
	loader := config.Register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loader.Load(lookupEnv)
		if err != nil {
			return err
		}
		logger := newLogger(cmd.ErrOrStderr(), cfg)
		info, _ := debug.ReadBuildInfo()
		logger.Info(versionString(version, commit, info))
		if f := loader.File(); f != "" {
			logger.Info("config file read", "path", f)
		}
		srv, err := server.New(cfg, logger)
		if err != nil {
			return err
		}
		srv.Version = version
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			// After the first signal, restore the default handling: a
			// second Ctrl-C kills a shutdown that seems stuck.
			<-ctx.Done()
			stop()
		}()
		return srv.Run(ctx)
	}
	return cmd
}

// newLogger builds the process logger. Logs go to stderr so that stdout
// stays free for command output.
func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		// Unreachable after Validate; fall back rather than lose logs.
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
