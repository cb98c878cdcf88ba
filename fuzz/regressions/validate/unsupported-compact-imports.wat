;; Valid with the compact-imports proposal alone, which Kiln's list of proposals to name
;; lacks: reported as invalid ("invalid leading byte 0x7F with compact imports proposal
;; disabled") instead of unsupported.
;; Known issue: KnownIssue::UnsupportedReportedAsInvalid.
(module
  (import "m"
    (item "a" (func))
    (item "b" (func))))
