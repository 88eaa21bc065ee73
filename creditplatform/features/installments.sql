-- Instalment payments: lateness (days and share) and under-payment, overall and last year.
-- Float sums and means add exact decimals (DECIMAL(38, 10)): order-independent, see store.py.
SELECT
    SK_ID_CURR,
    count(*) AS INST_COUNT,
    avg(CAST(DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT AS INTEGER)) AS INST_LATE_SHARE,
    avg(CAST(DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT AS INTEGER))
        FILTER (WHERE DAYS_INSTALMENT >= -365) AS INST_LATE_SHARE_1Y,
    mean(CAST(greatest(DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT, 0) AS DECIMAL(38, 10)))
        AS INST_DAYS_LATE_MEAN,
    max(DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT) AS INST_DAYS_LATE_MAX,
    avg(CAST(AMT_PAYMENT < AMT_INSTALMENT AS INTEGER)) AS INST_SHORT_SHARE,
    mean(CAST(AMT_PAYMENT / nullif(AMT_INSTALMENT, 0) AS DECIMAL(38, 10)))
        AS INST_PAYMENT_RATIO_MEAN,
    count(*) FILTER (WHERE AMT_PAYMENT IS NULL) AS INST_MISSING_PAYMENTS
FROM raw.installments_payments
WHERE month = $month
GROUP BY SK_ID_CURR
