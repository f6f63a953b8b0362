package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// serviceCIDR is the Service cluster IP range; its first address is the IP of the
// `kubernetes` Service and a SAN of the serving certificate.
const serviceCIDR = "10.0.0.0/24"

var kubernetesServiceIP = net.IPv4(10, 0, 0, 1)

// apiserverFlags are the kube-apiserver flags of the control plane. Everything not named keeps
// kube-apiserver's default, which is the point: RBAC authorization and the default admission
// plugins (NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity, ResourceQuota, …) are on,
// as on a production cluster.
func apiserverFlags(dir, etcdURL string, p *pki) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + p.Serving.CertFile,
		"--tls-private-key-file=" + p.Serving.KeyFile,
		"--client-ca-file=" + p.CA.CertFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPub,
		"--service-account-signing-key-file=" + p.SAKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=RBAC",
		// Privileged containers are a matter for Pod Security admission, as on clusters
		// that run privileged system workloads; kube-apiserver's own default refuses them
		// before admission and would hide what the namespace's level allows.
		"--allow-privileged=true",
		// The only address is a loopback address, which an Endpoints object may not hold:
		// the `kubernetes` Service keeps no endpoints instead of logging an error forever.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--watch-cache=true",
		// No cloud provider, no kubelet: nothing to reach but etcd.
		"--kubelet-preferred-address-types=InternalIP",
	}
}

// runAPIServer configures kube-apiserver in this process on the given listener and serves until
// ctx ends. It returns once the server has stopped (or failed to start).
func runAPIServer(ctx context.Context, listener net.Listener, args []string) error {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	s.SecureServing.Listener = listener
	s.SecureServing.BindPort = listener.Addr().(*net.TCPAddr).Port
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-apiserver feature gates: %w", err)
	}
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return fmt.Errorf("kube-apiserver logging: %w", err)
	}
	// kube-apiserver's loopback clients would otherwise log the warnings they cause themselves.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	return app.Run(ctx, completed)
}
