package admission

import (
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/drone-convert-eci/drone-convert-eci/internal/metrics"
)

// Review answers one AdmissionRequest. It always allows the pod: pods
// that are not the webhook's, pods it cannot decode and mutations that
// fail get no patch (allow by default; the report says why). Requests
// that are not a readable review never get here: Handler answers them
// 400. The
// patch is computed by diffing the mutated pod against the original,
// both as the same typed Pod, so fields newer than these types are
// never touched.
func Review(req *admissionv1.AdmissionRequest, o Options) (*admissionv1.AdmissionResponse, Report) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	var r Report
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != admissionv1.Create || req.SubResource != "" {
		r.Skipped = fmt.Sprintf("not a pod creation (%s %s/%s %s)", req.Operation, req.Kind.Group, req.Kind.Kind, req.SubResource)
		r.Outcome = metrics.ReviewSkipped
		return resp, r
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		r.Skipped = fmt.Sprintf("pod unreadable: %v", err)
		resp.Warnings = []string{"drone-convert-eci: " + r.Skipped}
		r.Outcome = metrics.ReviewUnreadablePod
		return resp, r
	}
	mutated, r := Mutate(&pod, o)
	if problems := r.Problems(); len(problems) > 0 {
		for _, p := range problems {
			resp.Warnings = append(resp.Warnings, "drone-convert-eci: "+p.Warning(o.Budget))
		}
	}
	if w := r.StatusWarning(); w != "" {
		resp.Warnings = append(resp.Warnings, "drone-convert-eci: "+w)
	}
	for _, c := range r.Containers {
		if len(c.Dropped) > 0 {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("drone-convert-eci: container %s (step %q): its entrypoint is unknown, so %d legacy CI_* aliases of DRONE_* variables were removed to fit the budget of %d: %s", c.Container, c.Step, len(c.Dropped), o.Budget, strings.Join(c.Dropped, " ")))
		}
	}
	if r.Skipped != "" {
		r.Outcome = metrics.ReviewSkipped
		return resp, r
	}
	r.Outcome = metrics.ReviewUnchanged
	if len(r.Containers) == 0 {
		return resp, r
	}
	patch, err := Patch(&pod, mutated)
	if err != nil {
		r.Skipped = err.Error()
		resp.Warnings = append(resp.Warnings, "drone-convert-eci: "+err.Error())
		r.Outcome = metrics.ReviewFailed
		return resp, r
	}
	if len(patch) > 0 {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	// A pod whose containers over the budget were all kept still gets
	// the report annotation: patched, but not mutated.
	if len(patch) > 0 && r.Changed() {
		r.Outcome = metrics.ReviewMutated
	}
	return resp, r
}

// Patch is the RFC 6902 JSON patch from original to mutated (empty when
// they are equal).
func Patch(original, mutated *corev1.Pod) ([]byte, error) {
	a, err := json.Marshal(original)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(mutated)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("computing the patch: %w", err)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return json.Marshal(ops)
}

// ReviewResponse wraps Review for a whole AdmissionReview.
func ReviewResponse(review *admissionv1.AdmissionReview, o Options) (*admissionv1.AdmissionReview, Report, error) {
	if review.Request == nil {
		return nil, Report{}, fmt.Errorf("AdmissionReview without a request")
	}
	resp, r := Review(review.Request, o)
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	}, r, nil
}
