-- Credit card balances: utilisation of the limit, overall and over the last six months.
-- Float sums and means add exact decimals (DECIMAL(38, 10)): order-independent, see store.py.
SELECT
    SK_ID_CURR,
    count(*) AS CC_MONTHS_COUNT,
    mean(CAST(AMT_BALANCE / nullif(AMT_CREDIT_LIMIT_ACTUAL, 0) AS DECIMAL(38, 10)))
        AS CC_UTILISATION_MEAN,
    max(AMT_BALANCE / nullif(AMT_CREDIT_LIMIT_ACTUAL, 0)) AS CC_UTILISATION_MAX,
    mean(CAST(AMT_BALANCE / nullif(AMT_CREDIT_LIMIT_ACTUAL, 0) AS DECIMAL(38, 10)))
        FILTER (WHERE MONTHS_BALANCE >= -6)
        AS CC_UTILISATION_6M,
    max(SK_DPD) AS CC_DPD_MAX,
    mean(CAST(AMT_DRAWINGS_CURRENT AS DECIMAL(38, 10))) AS CC_DRAWINGS_MEAN
FROM raw.credit_card_balance
WHERE month = $month
GROUP BY SK_ID_CURR
