package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// controllerManagerFlags are the kube-controller-manager flags of the control plane.
func controllerManagerFlags(kubeconfig string, p *pki) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		// No serving port: nothing scrapes it, and it would need a port of its own.
		"--secure-port=0",
		"--leader-elect=false",
		// Each controller acts as its own service account, as on a kubeadm cluster, so that
		// the RBAC roles of the controllers are exercised too.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.SAKey,
		"--root-ca-file=" + p.CA.CertFile,
		"--cluster-signing-cert-file=" + p.CA.CertFile,
		"--cluster-signing-key-file=" + p.CA.KeyFile,
		// Every default controller except those that need nodes with Pod CIDRs or volumes
		// attached by a kubelet (the cloud ones live in cloud-controller-manager); the rest (namespace, garbage collector, resource
		// quota, service accounts and tokens, deployments, replica sets, jobs, endpoints,
		// cluster role aggregation, …) is cheap and makes the cluster behave like a real one.
		"--controllers=*,-node-ipam-controller,-node-lifecycle-controller,-persistentvolume-attach-detach-controller,-persistentvolume-expander-controller,-ephemeral-volume-controller",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}
}

// runControllerManager runs kube-controller-manager in this process until ctx ends.
func runControllerManager(ctx context.Context, args []string) error {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return fmt.Errorf("kube-controller-manager options: %w", err)
	}
	all, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	named := s.Flags(all, disabled, aliases)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	s.ParsedFlags = &named
	// The feature gates and the logging configuration are process-wide and were already set
	// up by kube-apiserver; setting them again here is a no-op.
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-controller-manager feature gates: %w", err)
	}
	c, err := s.Config(ctx, all, disabled, aliases)
	if err != nil {
		return fmt.Errorf("kube-controller-manager config: %w", err)
	}
	return app.Run(ctx, c.Complete())
}
