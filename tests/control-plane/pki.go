package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the files of the control plane's throw-away public key infrastructure: one CA
// that signs the serving certificate and every client certificate, and the key pair that
// signs service-account tokens. Everything lives in the temporary folder and dies with it.
type pki struct {
	CA      credential // also the CSR signer of the controller manager
	Serving credential // kube-apiserver's serving certificate for 127.0.0.1 and localhost
	Admin   credential // client certificate of the admin (group system:masters)
	KCM     credential // client certificate of kube-controller-manager
	SAKey   string     // service-account token signing key
	SAPub   string     // and its public key
}

// credential is a certificate and its key, as files and as PEM.
type credential struct {
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newPKI generates all certificates and keys into dir. The admin belongs to system:masters,
// the group kube-apiserver grants everything without RBAC, exactly like kubeadm's admin.conf.
func newPKI(dir string, serviceIP net.IP) (*pki, error) {
	p := &pki{}
	now := time.Now().Add(-time.Hour) // tolerate a small clock skew between processes
	ca, err := newCA(now)
	if err != nil {
		return nil, err
	}
	if p.CA, err = save(dir, "ca", ca); err != nil {
		return nil, err
	}
	issued := []struct {
		into     *credential
		file     string
		subject  pkix.Name
		usage    x509.ExtKeyUsage
		dnsNames []string
		ips      []net.IP
	}{
		{&p.Serving, "apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
			[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP}},
		{&p.Admin, "admin", pkix.Name{CommonName: "conplus-admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil},
		// The bootstrap RBAC policy binds the user system:kube-controller-manager to what the
		// controller manager needs to mint one service-account token per controller.
		{&p.KCM, "kube-controller-manager", pkix.Name{CommonName: "system:kube-controller-manager"}, x509.ExtKeyUsageClientAuth, nil, nil},
	}
	for _, c := range issued {
		pair, err := issue(ca, now, c.subject, c.usage, c.dnsNames, c.ips)
		if err != nil {
			return nil, err
		}
		if *c.into, err = save(dir, c.file, pair); err != nil {
			return nil, err
		}
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the service-account signing key: %w", err)
	}
	p.SAKey, p.SAPub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := writeKey(p.SAKey, saKey); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, fmt.Errorf("encode the service-account public key: %w", err)
	}
	if err := os.WriteFile(p.SAPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func newCA(notBefore time.Time) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "conplus-control-plane-ca"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(10 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func issue(ca *keyPair, notBefore time.Time, subject pkix.Name, usage x509.ExtKeyUsage, dnsNames []string, ips []net.IP) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the key of %s: %w", subject.CommonName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), crypto.Signer(ca.key))
	if err != nil {
		return nil, fmt.Errorf("sign the certificate of %s: %w", subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	data, err := keyPEM(k)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// save writes the pair as dir/name.crt and dir/name.key.
func save(dir, name string, pair *keyPair) (credential, error) {
	c := credential{
		CertFile: filepath.Join(dir, name+".crt"),
		KeyFile:  filepath.Join(dir, name+".key"),
		CertPEM:  certPEM(pair.cert),
	}
	var err error
	if c.KeyPEM, err = keyPEM(pair.key); err != nil {
		return c, err
	}
	if err := os.WriteFile(c.CertFile, c.CertPEM, 0o600); err != nil {
		return c, err
	}
	return c, os.WriteFile(c.KeyFile, c.KeyPEM, 0o600)
}
