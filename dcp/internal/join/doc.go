// Package join is how a DCP agent gets its node's credentials from a
// server: the server half is an http.Handler (Server), the agent half is
// Join. Neither imports Kubernetes; the server mounts the handler next to
// the apiserver and the agent writes kubeconfigs from what Join wrote.
//
// # Endpoints
//
//	GET  /cacerts                   the server CA (PEM), to anyone
//	POST /v1-dcp/node-credentials   a node's certificates, to a holder of the token's secret
//
// /cacerts serves the bytes of the server CA's certificate file exactly as
// they are on disk (server/tls/server-ca.crt), which are the bytes whose
// sha256 a node token carries (K10<sha256 hex>::<user>:<secret>, package
// token). It is public: a CA certificate holds no secret.
//
// # What is pinned
//
// With a node token the agent fetches /cacerts without verifying TLS (it
// has nothing to verify against yet), hashes the body and compares it with
// the token's hash. On a mismatch it stops there: the secret is never sent
// to a server whose CA the token does not pin. On a match every later
// request verifies the server's certificate against that CA and the host of
// the server URL. A cluster secret (any token that is not a node token)
// pins nothing: the agent trusts the CA that /cacerts returned, logs that it
// did so unpinned, and the rest is as with a node token. Whoever answers
// the first request of such an agent can impersonate the server.
//
// # Authentication
//
// The credentials request carries HTTP basic auth: user "server" or "node"
// (the token's user; "node" for a cluster secret) and the token's secret.
// The server compares sha256 digests of the secrets in constant time; the
// user is not secret. A bad secret gets 401 with no detail. The server
// refuses the request on a connection without TLS. Server.SetSecret
// replaces the accepted secret (rotation): the old one is refused at once.
//
// # What the agent asks, what the server decides
//
// The agent generates three ECDSA keys and keeps them: they never leave the
// node. It sends a JSON Request: the node's name, its IP addresses and one
// x509 CSR per key. The server checks each CSR's signature (the agent holds
// the key) and key type, and takes nothing else from it: the subject and
// the names in the certificates are the server's:
//
//	kubelet client   CN system:node:<name>, O system:nodes   client CA, client auth
//	kubelet serving  CN <name>, DNS <name>, IP <the IPs>      server CA, server auth
//	kube-proxy       CN system:kube-proxy                    client CA, client auth
//
// A node's name is a DNS-1123 subdomain (as Kubernetes wants a node's
// name): lower-case letters, digits, '-' and '.', at most 253 characters.
// It may give 1 to MaxIPs addresses, none unspecified or multicast. The
// server cannot check that the addresses are the node's: a holder of the
// secret is trusted to name itself, as it is trusted to join at all.
//
// The JSON Response carries the three certificates, the server CA (which
// the apiserver's and kubelets' serving certificates chain to), the client
// CA (which the kubelet trusts for clients of its API) and the apiserver URL
// the agent should use.
//
// # Bounds
//
// The server reads at most MaxRequestBytes of a request (413 beyond) and
// answers 400 naming the field for anything malformed. It issues at most
// IssueRate credentials a second (burst IssueBurst; 429 beyond, with
// Retry-After) and logs every issue (user, remote address, node) and every
// refused secret (rate limited, so that a flood cannot fill the log). The
// agent reads at most MaxResponseBytes, refuses redirects, bounds each
// request by RequestTimeout and the caller's context, and checks every
// certificate it gets: it chains to the CA it belongs to, for its usage and
// names, and holds the agent's key.
//
// # Errors
//
// Join's errors say what failed with one of ErrUnreachable, ErrWrongCA,
// ErrServerCert, ErrUnauthorized, ErrBadRequest, ErrRateLimited and
// ErrBadResponse (errors.Is), so that a caller retrying with backoff can log
// each kind clearly. Join does not retry.
//
// # Files
//
// Join writes under its directory, atomically file by file (pki.WriteFile),
// the names the server uses for its own node: server-ca.crt, client-ca.crt,
// and client-kubelet, serving-kubelet and client-kube-proxy, each as .crt
// (0644) and .key (0600). Every Join makes new keys.
package join
