// Package leadertest makes client-go's fake clientset refuse a stale
// Lease update as the API server does: the fake keeps no
// resourceVersion, so its last writer wins, and two replicas under one
// Lease could both believe they hold it where a real cluster lets only
// one update through.
package leadertest

import (
	"errors"
	"strconv"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var leases = coordinationv1.SchemeGroupVersion.WithResource("leases")

// OptimisticLeases gives every Lease in tracker a resourceVersion and
// makes each client's Lease updates conditional on it, as the API
// server's optimistic concurrency does. clients are every clientset
// sharing tracker.
func OptimisticLeases(tracker k8stesting.ObjectTracker, clients ...*fake.Clientset) {
	var mu sync.Mutex
	for _, c := range clients {
		c.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			lease := a.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
			lease.ResourceVersion = "1"
			if err := tracker.Create(leases, lease, a.GetNamespace()); err != nil {
				return true, nil, err
			}
			return true, lease, nil
		})
		c.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			lease := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
			current, err := tracker.Get(leases, a.GetNamespace(), lease.Name)
			if err != nil {
				return true, nil, err
			}
			if current.(*coordinationv1.Lease).ResourceVersion != lease.ResourceVersion {
				return true, nil, apierrors.NewConflict(leases.GroupResource(), lease.Name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
			}
			n, _ := strconv.Atoi(lease.ResourceVersion)
			lease.ResourceVersion = strconv.Itoa(n + 1)
			if err := tracker.Update(leases, lease, a.GetNamespace()); err != nil {
				return true, nil, err
			}
			return true, lease, nil
		})
	}
}
