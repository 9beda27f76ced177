"""Round-3 note styles written by an author who never saw the de-identifier's rules; SYNTHETIC, for held-out
measurement only."""

from __future__ import annotations

ROUND_3_STYLES: dict[str, list[str]] = {
    "icu_progress_note": [
        "ICU DAY 4 - {name_caps_lf}\nO/N: febrile x1, cultures sent. {vital}, on noradrenaline.\n"
        "Resp: FiO2 0.4, PEEP 8.\nRenal: {lab}. {lab2}.\nID: switched to {drug} {dose} per micro ({doctor}).\n"
        "Family: wife {relative} updated at bedside by {doctor_full} (ICU fellow).\n- {nurse_first} (bedside RN) aware",
        "Intensivist ward round {date}\nPt: {name}  MRN {mrn}\n{age}M day 2 post arrest. Sedation held 0600, "
        "GCS 7. {vital}.\nPlan: CT head, cont {drug}.\nDiscussed w/ {doctor_full} (neuro reg). Son {relative} "
        "phoned - will come in at 2pm.",
        "Night reg note. Called by {nurse_first} re: desaturation in bed 6 ({name}). {vital}. CXR ?{eponym}. "
        "Bolus given, {drug2} {dose} started. Will hand to day team; d/w Dr {doctor} on call.",
    ],
    "physiotherapy_note": [
        "PHYSIOTHERAPY - INPATIENT\n{name_lf}, {age}\nS: 'knee feels stiffer today'. Took {drug} 30 min pre-session.\n"
        "O: Mobilised 20m with ZF + 1 assist ({nurse_first}, HCA). {vital} post.\n"
        "A: Slow progress post TKR.\nP: Cont BD, stairs assessment Fri.\n{name_plain_2}, Band 6 Physio",
        "Rehab MDT {date}\n{name} - OT and physio joint session. Daughter {relative} present and keen to learn "
        "transfers. Home visit booked with OT {name_plain_2}. Referred to Dr {doctor} re: {eponym} tremor "
        "limiting grip.",
        "Outpt physio review. Pt {name} attended w/ carer {relative}. Back pain improving, now off {drug}. "
        "ROM lumbar flex 70%. HEP updated, progress to Pilates class. Letter to GP {doctor_full}.",
    ],
    "antenatal_note": [
        "ANTENATAL CLINIC\nName: {name}  Hosp no: {mrn}\nG2P1, 32+4/40. {vital}. Urine NAD. {lab}.\n"
        "SFH 33cm, ceph, FH heard.\nPartner {relative} attended.\nPlan: GTT result to be reviewed by "
        "{doctor_full} (obs reg). Community midwife {nurse_first} to visit.",
        "Booking visit - midwife {nurse_first}\n{name_caps} aged {age}, LMP {date}. Hx {eponym}, on {drug} {dose}. "
        "Referred to consultant clinic ({doctor}) for shared care. Interpreter {name_plain_2} (Tagalog) used "
        "throughout.",
        "Day assessment unit: {name} 36/40 c/o reduced FM since last night. CTG reactive. {vital}. {lab}. "
        "Reassured, d/w Dr {doctor}. Mum {relative} to drive her home. Aware to return if any concerns.",
    ],
    "psychiatric_assessment": [
        "PSYCHIATRIC ASSESSMENT\nPatient: {name_lf}\nReferred by: Dr {doctor} (GP)\nPC: low mood x3/12, "
        "poor sleep, passive SI no plan.\nCollateral from sister {relative}: withdrawn, not eating.\n"
        "MSE: kempt, poor eye contact, flat affect.\nPlan: start {drug} {dose}, CMHT f/u w/ care coordinator "
        "{name_plain_2}.",
        "Liaison psych seen in ED. {name} ({age}) brought in by police after neighbour {relative} raised concern. "
        "Denies current intent. UDS neg, {lab}. Not detainable. Crisis team ({nurse_first}) to call tomorrow on "
        "{phone}. Plan agreed with {doctor_full}, consultant.",
        "CPA review\nPresent: {name}, Dr {doctor}, key worker {nurse_first}, mother {relative}\n"
        "Stable on {drug} depot {dose}. Weight up 4kg, {lab2}. Discussed switching to {drug2}. Next review "
        "in 6/12.",
    ],
    "dental_note": [
        "Pt {name} attended for exam. MH: {eponym}, on {drug} - INR checked, {lab}. LR6 MOD caries, "
        "restored w/ composite under LA. DN: {nurse_first}. Next recall 6/12. Dr {doctor} BDS",
        "DENTAL REFERRAL\nTo: Oral Surgery, attn {doctor_full}\nRe: {name_caps_lf}  DOB {date}\n"
        "Impacted LL8, recurrent pericoronitis x3. Pt on {drug2} {dose}, please advise re: bleeding risk.\n"
        "Kind regards,\n{name_plain_2}, GDP",
        "Emergency appt. {name} c/o swelling R cheek 2/7. Temp 38.1. Mum ({relative}) says not eating. "
        "Abx {drug} {dose} x5/7. Review Mon with {doctor}. Nurse {nurse_first} gave post-op advice sheet.",
    ],
    "anticoagulation_clinic": [
        "ANTICOAG CLINIC - {date}\n{name_lf}  NHS/MRN {mrn}\nIndication: AF. Target INR 2-3.\n{lab}.\n"
        "Dose: {drug} {dose}, no change.\nMissed 1 dose last wk per daughter {relative}.\n"
        "Next INR 2/52. Checked by {nurse_first} (pharm tech), authorised {name_plain_2} (pharmacist).",
        "Pharmacist phone review: spoke to {name} re: starting {drug2} alongside {drug}. Advised interaction, "
        "INR recheck in 5 days. Informed GP Dr {doctor}. Carer {relative} will collect dosette from pharmacy.",
        "DOAC switch\nPt: {name}, {age}\nCrCl 42, {lab2}. Warfarin stopped, {drug} {dose} started when INR <2.\n"
        "Counselled w/ husband {relative}. Alert card given.\nPlan signed off by {doctor_full}.",
    ],
    "paramedic_handover": [
        "ATMIST\nA: {age}\nT: 1412 collapse at home\nM: ?{eponym}, hx on {drug}\nI: nil obvious\n"
        "S: {vital}, BM 6.2\nT: O2, IV access, {drug2} {dose}\nPt {name}. NOK wife {relative} following by car. "
        "Crew: {name_plain_2} / {nurse_first}",
        "PRF: Called to {street}, {city} {zip}. Found {name} on floor by carer {relative}, long lie ~6h. "
        "{vital}. C/o R hip pain. Analgesia given. Handed to {nurse_first} (triage RN) at 1530. "
        "GP: Dr {doctor}.",
        "Handover to resus: this is {name}, {age}, RTC driver, GCS 14. {vital}. Given {drug} {dose} en route. "
        "Partner {relative} was passenger, on second crew. Trauma call put out by {doctor_full}.",
    ],
    "genetic_counselling_letter": [
        "Dear Dr {doctor},\nRe: {name}, DOB {date}\nThank you for referring this lady with family hx of "
        "breast ca (mother {relative}, dx age 44). We discussed BRCA testing and she consented.\nYours sincerely,\n"
        "{name_plain_2}\nGenetic Counsellor\ncc: patient; {doctor_full}, Consultant Geneticist",
        "CLINICAL GENETICS\n{name_caps_lf}\nFamily hx of {eponym}: father affected, sister {relative} "
        "untested.\nPredictive testing discussed; pt would like time to consider. Will phone {nurse_first} "
        "(GC) to rebook.\nSeen with {doctor_full}.",
        "Results letter\nDear {name},\nI am writing with the result of the genetic test taken at your appointment "
        "with Dr {doctor}. No pathogenic variant was found. Your brother {relative} can still be tested if he "
        "wishes.\nBest wishes,\n{name_plain_2}",
    ],
    "palliative_family_meeting": [
        "FAMILY MEETING\nPresent: Dr {doctor}, {nurse_first} (CNS), pt {name}, sons {relative} and {relative}\n"
        "Discussed progression of {eponym}, not for further chemo. Pt wishes to die at home. "
        "Agreed: DNACPR, syringe driver {drug} {dose} prn.\nActions: {name_plain_2} (DN) to visit tomorrow.",
        "Hospice admission {date}: {name}, {age}. Pain uncontrolled on {drug}, switched to {drug2}. {lab}. "
        "Niece {relative} is main contact, tel {phone}. Chaplain to visit. Key worker {nurse_first}. "
        "Reviewed by {doctor_full}.",
        "Bereavement f/u call. Spoke to {relative} (wife of the late {name}). Coping, good support from "
        "family. Offered counselling, declined for now. {nurse_first} will send leaflet. Informed GP Dr {doctor}.",
    ],
    "sbar_handover": [
        "SBAR\nS: {name}, bed 14, deteriorating. {vital}.\nB: {age}F, day 3 post lap chole, on {drug}.\n"
        "A: NEWS 6, {lab}. ?sepsis.\nR: Review within 30 min pls.\n"
        "Called: {doctor_full} (FY1) by {nurse_first}, RN",
        "Handed over to {nurse_first} at 1930. {name_lf} - settled, pain controlled on {drug} {dose}. "
        "Awaiting {lab2}. Daughter {relative} visiting in AM, wants to speak to Dr {doctor}.",
        "Med reg handover {date}\n1. {name} (MRN {mrn}) - {eponym}, on {drug}. For repeat {lab} at 2200.\n"
        "2. {name} - DKA, FRII, K+ due 2300.\nEscalate to {doctor_full} (consultant) if worse. "
        "Bleep from {name_plain_2}.",
    ],
}

# Split by style (never by note), drawn at random (random.Random(26).sample(sorted(ROUND_3_STYLES), 5)) after all ten
# had been measured once, untouched: the rules may be tuned on the misses of ROUND_3_TUNING only; ROUND_3_HELD_OUT is
# measured, its misses never read.
ROUND_3_HELD_OUT = (
    "genetic_counselling_letter",
    "icu_progress_note",
    "paramedic_handover",
    "physiotherapy_note",
    "sbar_handover",
)
ROUND_3_TUNING = tuple(style for style in ROUND_3_STYLES if style not in ROUND_3_HELD_OUT)
