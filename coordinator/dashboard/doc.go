// Package dashboard serves the operator's web dashboard and the read and action
// endpoints behind it, from state in etcd; the browser test writes its screenshots to
// artifacts/screenshots/ at the repository root.
package dashboard
