package kube

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
)

// etcdLimit is etcd's default --max-request-bytes: the largest object
// the API server can store.
const etcdLimit = 1572864

// stored is an index of n entries as the API server stores it in etcd:
// protobuf, with the managedFields its field tracking records for the
// service's patches (structured-merge-diff's own encoding of the keys it
// set under data).
func stored(t *testing.T, n int) (*corev1.ConfigMap, int) {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: IndexName, Namespace: "builds", UID: "0f8e8d7c-1111-2222-3333-444455556666", ResourceVersion: "123456789",
			Labels: map[string]string{ManagedByLabel: ManagedByValue}, Annotations: map[string]string{CollectedAnnotation: "2025-03-01"}},
		Data: map[string]string{},
	}
	set := fieldpath.NewSet()
	for i := range n {
		// What transform names them: the prefix and 16 hex digits.
		name := fmt.Sprintf("%s%016x", secretPrefix, uint64(i)*0x9e3779b97f4a7c15)
		cm.Data[name] = "2025-03-01"
		set.Insert(fieldpath.MakePathOrDie("data", name))
	}
	fields, err := set.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	cm.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "drone-convert-eci", Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: fields}}}
	pb, err := cm.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return cm, len(pb)
}

// The index's size as reported (metric, warning) is what etcd stores,
// whose limit comes first: each key is stored a second time in
// managedFields, so counting data alone (48 bytes an entry) put the
// capacity at 21 800 entries, a 2.1 MB object etcd refuses.
func TestIndexSizeAsStored(t *testing.T) {
	for _, n := range []int{1000, 15000} {
		cm, actual := stored(t, n)
		est := storedBytes(cm.Data)
		if diff := est - actual; diff < -actual/100 || diff > actual/100 {
			t.Errorf("%d entries: estimated %d bytes, stored %d", n, est, actual)
		}
	}
	// At the collector's warning the index is still well within etcd's
	// limit, and an index at IndexCapacity is at it.
	perEntry := storedBytes(map[string]string{secretPrefix + "0123456789abcdef": "2025-03-01"})
	if _, actual := stored(t, IndexCapacity*3/4/perEntry); actual > etcdLimit*3/4+etcdLimit/100 {
		t.Errorf("at the warning the index is %d bytes stored", actual)
	}
	if _, actual := stored(t, IndexCapacity/perEntry); actual > etcdLimit || actual < etcdLimit*98/100 {
		t.Errorf("an index at IndexCapacity is %d bytes stored, etcd's limit %d", actual, etcdLimit)
	}
}
