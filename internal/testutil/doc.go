// Package testutil holds what the tests of several packages share and no
// program needs: reference implementations written apart from the code
// they check. It imports nothing of snoopswitch, so that every package's
// tests, internal ones included, may use it.
package testutil
