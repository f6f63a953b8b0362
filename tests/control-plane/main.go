// Command control-plane runs a real Kubernetes control plane for the tests of conplus-operator:
// embedded etcd, kube-apiserver and kube-controller-manager, all in this one process, on
// 127.0.0.1 only, with their data in a temporary folder that is removed when the process ends.
//
// It writes an admin kubeconfig to --kubeconfig, prints one line starting with "ready:" once the
// API server answers /readyz, the default namespace and the RBAC bootstrap policy exist and the
// controller manager works, and runs until SIGTERM or SIGINT.
//
// There is no kubelet and no scheduler: Pods are admitted (RBAC, Pod Security, quota) and then
// stay Pending, which is all the operator's tests need. sigs.k8s.io/kwok could simulate nodes,
// but Pods would also need kube-scheduler, and kwok's releases are built against other
// Kubernetes libraries (v0.7.0: 1.33, v0.8.0: 1.36) than this release's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "control-plane: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	started := time.Now()
	kubeconfig := flag.String("kubeconfig", "", "where to write the admin kubeconfig (required)")
	port := flag.Int("port", 0, "kube-apiserver's port on 127.0.0.1 (0: a free port)")
	startTimeout := flag.Duration("start-timeout", 3*time.Minute, "how long to wait for the control plane to be ready")
	exitWith := flag.Int("exit-with", 0, "stop as on SIGTERM once the process with this pid has exited (a test run that started it)")
	flag.Parse()
	if *kubeconfig == "" {
		return errors.New("--kubeconfig PATH is required")
	}
	kubeconfigPath, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return err
	}
	// Three components share one heap; a soft limit keeps the process near 1 GiB of RSS on a
	// machine that also builds and tests. GOMEMLIMIT in the environment wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(900 << 20)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *exitWith > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		go func() {
			defer cancel()
			watchOwner(ctx, *exitWith)
		}()
	}

	dir, err := os.MkdirTemp("", "conplus-control-plane-")
	if err != nil {
		return fmt.Errorf("create the data folder: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "control-plane: remove %s: %v\n", dir, err)
		}
	}()

	p, err := newPKI(dir, kubernetesServiceIP)
	if err != nil {
		return fmt.Errorf("generate certificates: %w", err)
	}
	etcd, etcdURL, err := startEtcd(dir)
	if err != nil {
		return err
	}
	defer etcd.Close()

	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", *port, err)
	}
	server := "https://" + listener.Addr().String()

	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	apiDone := make(chan error, 1)
	go func() { apiDone <- runAPIServer(apiCtx, listener, apiserverFlags(dir, etcdURL, p)) }()
	// However start-up ends, kube-apiserver is stopped and waited for before etcd closes.
	defer func() {
		stopAPI()
		select {
		case <-apiDone:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "control-plane: kube-apiserver did not stop within 30s")
		}
	}()

	kcmKubeconfig := filepath.Join(dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, server, "system:kube-controller-manager", p.CA.CertPEM, p.KCM.CertPEM, p.KCM.KeyPEM); err != nil {
		return fmt.Errorf("write the controller manager's kubeconfig: %w", err)
	}
	// The admin kubeconfig appears in one piece: written beside its target, then renamed.
	if err := os.MkdirAll(filepath.Dir(kubeconfigPath), 0o755); err != nil {
		return err
	}
	partial := kubeconfigPath + ".partial"
	if err := writeKubeconfig(partial, server, "conplus-admin", p.CA.CertPEM, p.Admin.CertPEM, p.Admin.KeyPEM); err != nil {
		return fmt.Errorf("write the admin kubeconfig: %w", err)
	}
	if err := os.Rename(partial, kubeconfigPath); err != nil {
		return fmt.Errorf("write the admin kubeconfig: %w", err)
	}

	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return fmt.Errorf("read the admin kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}

	startCtx, cancelStart := context.WithTimeout(ctx, *startTimeout)
	defer cancelStart()
	if err := waitFor(startCtx, apiDone, "kube-apiserver to answer /readyz and create the default namespace", func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil || string(body) != "ok" {
			return false, nil
		}
		_, err = client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	}); err != nil {
		return err
	}

	kcmCtx, stopKCM := context.WithCancel(context.Background())
	defer stopKCM()
	kcmDone := make(chan error, 1)
	go func() { kcmDone <- runControllerManager(kcmCtx, controllerManagerFlags(kcmKubeconfig, p)) }()

	// Ready means usable by a test as it would use a cluster: the bootstrap ClusterRoles have
	// been aggregated (admin, edit and view are what onboardings bind) and the service-account
	// controller has given the default namespace its ServiceAccount.
	if err := waitFor(startCtx, kcmDone, "the RBAC bootstrap policy and kube-controller-manager", func(ctx context.Context) (bool, error) {
		if _, err := client.RbacV1().ClusterRoleBindings().Get(ctx, "cluster-admin", metav1.GetOptions{}); err != nil {
			return false, ignoreNotFound(err)
		}
		edit, err := client.RbacV1().ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
		if err != nil || len(edit.Rules) == 0 {
			return false, ignoreNotFound(err)
		}
		_, err = client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	}); err != nil {
		return err
	}
	version, err := client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("read the server version: %w", err)
	}
	fmt.Printf("ready: kube-apiserver %s at %s in %.1fs; kubeconfig %s\n", version.GitVersion, server, time.Since(started).Seconds(), kubeconfigPath)

	select {
	case <-ctx.Done():
		fmt.Println("stopping")
	case err := <-apiDone:
		apiDone <- err // for the deferred wait
		return fmt.Errorf("kube-apiserver stopped: %v", err)
	case err := <-kcmDone:
		return fmt.Errorf("kube-controller-manager stopped: %v", err)
	case err := <-etcd.Err():
		return fmt.Errorf("etcd stopped: %v", err)
	}
	// A second signal while stopping ends the process at once.
	stop()
	stopKCM()
	return nil
}

// watchOwner returns once the process pid no longer exists (or ctx ends).
func watchOwner(ctx context.Context, pid int) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				fmt.Printf("stopping: process %d has exited\n", pid)
				return
			}
		}
	}
}

// waitFor polls check until it succeeds, the component behind failed stops, or ctx ends.
func waitFor(ctx context.Context, failed chan error, what string, check func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-failed:
			failed <- err
			return false, fmt.Errorf("stopped while waiting for %s: %v", what, err)
		default:
		}
		ok, err := check(ctx)
		if err != nil {
			last = err
		}
		return ok, nil
	})
	if err != nil {
		if ctx.Err() != nil && last != nil {
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, err, last)
		}
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
