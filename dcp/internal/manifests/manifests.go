// Package manifests keeps the objects of a directory of manifests applied:
// every *.yaml, *.yml and *.json file under it (recursively) is applied with
// server-side apply at start, again whenever its content changes, and again
// until it succeeds (a custom resource waits for its definition). The field
// manager is "dcp"; conflicts are forced (the files are the truth). Removing
// a file deletes nothing.
package manifests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pkg/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply manager of every applied object.
const FieldManager = "dcp"

// MaxFileSize bounds one manifest file.
const MaxFileSize = 8 << 20

// Logger is the log.
type Logger interface {
	Printf(format string, args ...any)
}

// Object is one document of a manifest.
type Object struct {
	*unstructured.Unstructured
	Doc int // 1-based index of the document in its file
}

// Decode splits a manifest (YAML documents or JSON) into objects, skipping
// empty documents. An object without apiVersion, kind or metadata.name is
// an error that names its document.
func Decode(data []byte) ([]Object, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []Object
	for i := 1; ; i++ {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return nil, errors.Wrapf(err, "document %d", i)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		switch {
		case u.GetAPIVersion() == "" || u.GetKind() == "":
			return nil, errors.Errorf("document %d: no apiVersion or kind", i)
		case u.GetName() == "":
			return nil, errors.Errorf("document %d (%s): no metadata.name", i, u.GetKind())
		}
		if strings.HasSuffix(u.GetKind(), "List") && u.IsList() {
			return nil, errors.Errorf("document %d: a %s: give its items as documents", i, u.GetKind())
		}
		out = append(out, Object{u, i})
	}
}

// Applier applies objects to a cluster.
type Applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewApplier talks to the cluster of cfg.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return &Applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Apply applies the objects in order; it stops at the first failure.
func (a *Applier) Apply(ctx context.Context, objs []Object) error {
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			a.mapper.Reset() // a definition applied since may have added it
			m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return errors.Wrapf(err, "document %d (%s %s)", o.Doc, gvk.Kind, o.GetName())
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return errors.WithStack(err)
		}
		var r dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := o.GetNamespace()
			if ns == "" {
				ns = metav1.NamespaceDefault
			}
			r = a.dyn.Resource(m.Resource).Namespace(ns)
		}
		force := true
		if _, err := r.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
			return errors.Wrapf(err, "document %d (%s %s)", o.Doc, gvk.Kind, o.GetName())
		}
	}
	return nil
}

// Files lists the manifest files under dir, sorted by path.
func Files(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				out = append(out, p)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, errors.Wrapf(err, "manifests %s", dir)
}

// Watch applies the manifests of dir now and every interval after, a file
// again when its content changed or its last apply failed, until ctx is
// done. Each failure is logged once per content.
func Watch(ctx context.Context, dir string, a *Applier, interval time.Duration, log Logger) {
	applied := map[string][32]byte{} // path: content applied
	failed := map[string][32]byte{}  // path: content whose failure was logged
	for {
		files, err := Files(dir)
		if err != nil {
			log.Printf("%v", err)
		}
		for _, f := range files {
			data, err := readFile(f)
			if err != nil {
				log.Printf("manifest %s: %v", f, err)
				continue
			}
			sum := sha256.Sum256(data)
			if applied[f] == sum {
				continue
			}
			err = apply(ctx, a, data)
			if err == nil {
				applied[f] = sum
				delete(failed, f)
				log.Printf("applied manifest %s", f)
				continue
			}
			if failed[f] != sum && ctx.Err() == nil {
				failed[f] = sum
				log.Printf("manifest %s: %v (retrying every %s)", f, err, interval)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func apply(ctx context.Context, a *Applier, data []byte) error {
	objs, err := Decode(data)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return a.Apply(actx, objs)
}

// readFile reads a regular file of at most MaxFileSize bytes.
func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, errors.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	return b, nil
}
