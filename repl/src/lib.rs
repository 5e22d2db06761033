//! Interactive EPL shell (issue 8): not implemented yet; the binary has no `repl` command until it is.
