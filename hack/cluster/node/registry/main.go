// Command registry is the distribution registry (github.com/distribution/distribution/v3) with
// what the local cluster's private registry uses: filesystem storage and htpasswd
// authentication (its own cmd/registry would link every cloud storage driver). It adds
// `registry htpasswd USER`: an htpasswd line for USER, with the password read from stdin
// hashed by bcrypt (the only hash the registry accepts), so the cluster script needs no
// htpasswd tool.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

var htpasswd = &cobra.Command{
	Use:   "htpasswd USER",
	Short: "prints an htpasswd line for USER, the password read from stdin (bcrypt)",
	Args:  cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		password, err := bufio.NewReader(os.Stdin).ReadString('\n')
		password = strings.TrimSuffix(password, "\n")
		if password == "" {
			return fmt.Errorf("no password on stdin: %v", err)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		fmt.Printf("%s:%s\n", args[0], hash)
		return nil
	},
}

func main() {
	registry.RootCmd.AddCommand(htpasswd)
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
