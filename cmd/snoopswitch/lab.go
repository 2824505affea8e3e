package main

import (
	"context"
	"io"
)

func labCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("lab: not built yet")
}
