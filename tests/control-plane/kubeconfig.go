package main

import (
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig with the CA and the client certificate embedded, so that
// it stays usable wherever it is copied while the control plane runs.
func writeKubeconfig(path, server, name string, caPEM, certPEM, keyPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[clusterName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = clusterName
	return clientcmd.WriteToFile(*cfg, path)
}

const clusterName = "conplus-control-plane"
