;; Valid with multi-memory and custom page sizes together. Kiln's frontend tries each
;; missing proposal (and a few known groups) alone, finds none that suffices, and reports
;; the module as invalid ("multiple memories") instead of unsupported.
;; Known issue: KnownIssue::UnsupportedReportedAsInvalid.
(module
  (memory 1 (pagesize 1))
  (memory 1))
