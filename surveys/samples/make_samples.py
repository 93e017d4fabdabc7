"""A realistic draft duty list for one township (青山镇), and writers that save a
list as an Excel workbook or a CSV file the way drafters' files look.

Run it to regenerate the shipped samples:

    .venv/bin/python -m surveys.samples.make_samples

which writes `sample_draft.xlsx` (one sheet per part, a title row, merged
category cells, a blank row) and `sample_draft_gbk.csv` (the same items, GBK,
with a 部分 column) next to this file. Tests and benchmarks import
`build_sample_items`, `write_xlsx` and `write_csv` to make big or broken files.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from surveys.duty_list import PART_ORDER, DutyItem, Part

HERE = Path(__file__).parent
TOWNSHIP = "青山镇"

PART_SHEETS: dict[Part, str] = {
    Part.BASIC: "基本履职事项",
    Part.COOPERATING: "配合履职事项",
    Part.WITHDRAWN: "上级部门收回事项",
}

#: Column headers as a drafter writes them, per part and field.
PART_HEADERS: dict[Part, dict[str, str]] = {
    Part.BASIC: {
        "seq": "序号", "category": "领域", "subcategory": "二级类别", "name": "事项名称",
        "content": "具体内容", "basis": "履职依据", "county_department": "对应县级部门", "remarks": "备注",
    },
    Part.COOPERATING: {
        "seq": "序号", "category": "领域", "subcategory": "二级类别", "name": "事项名称",
        "county_department": "对应上级（县级）部门", "county_duty": "上级部门职责",
        "content": "乡镇（街道）配合职责", "basis": "依据", "remarks": "备注",
    },
    Part.WITHDRAWN: {
        "seq": "序号", "category": "领域", "subcategory": "二级类别", "name": "事项名称",
        "receiving_department": "承接部门", "working_mode": "收回后工作方式", "basis": "依据/理由",
        "remarks": "备注",
    },
}

#: Columns of a single-table file (CSV, or a workbook with one sheet).
FLAT_HEADERS: dict[str, str] = {
    "part": "部分", "seq": "序号", "category": "领域", "subcategory": "二级类别", "name": "事项名称",
    "content": "具体内容", "basis": "履职依据", "county_department": "对应县级部门",
    "county_duty": "上级部门职责", "receiving_department": "承接部门", "working_mode": "收回后工作方式",
    "remarks": "备注",
}

# (category, name, content, basis, county department)
_BASIC: list[tuple[str, str, str, str, str]] = [
    ("党的建设", "发展党员及党员教育管理监督服务", "做好发展党员、党员教育培训、组织关系转接和党员管理服务",
     "《中国共产党发展党员工作细则》《中国共产党党员教育管理工作条例》", "县委组织部"),
    ("党的建设", "村（社区）党组织建设和换届工作指导", "指导村（社区）党组织规范化建设，组织实施换届选举",
     "《中国共产党农村基层组织工作条例》", "县委组织部"),
    ("党的建设", "基层党组织书记抓党建述职评议考核", "组织村（社区）党组织书记述职评议，落实考核结果运用",
     "《中国共产党农村基层组织工作条例》", "县委组织部"),
    ("党的建设", "意识形态工作和网络舆情处置", "落实意识形态工作责任制，开展网络舆情监测、研判和处置",
     "《党委（党组）意识形态工作责任制实施办法》", "县委宣传部"),
    ("党的建设", "党风廉政建设和村务监督", "落实党风廉政建设主体责任，指导村务监督委员会开展工作",
     "《中国共产党纪律处分条例》《中华人民共和国村民委员会组织法》", "县纪委监委"),
    ("党的建设", "统一战线和民族宗教事务管理", "做好党外人士联系服务，开展宗教活动场所日常管理",
     "《中国共产党统一战线工作条例》《宗教事务条例》", "县委统战部"),
    ("党的建设", "工会、共青团、妇联等群团组织建设", "指导群团组织开展工作，维护职工、青年、妇女合法权益",
     "《中华人民共和国工会法》《中华人民共和国妇女权益保障法》", "县总工会"),
    ("经济发展", "统计调查和基础数据报送", "组织开展常规统计调查，按时报送统计数据",
     "《中华人民共和国统计法》", "县统计局"),
    ("经济发展", "招商引资和项目落地服务", "开展招商引资，为落地项目提供协调服务",
     "《优化营商环境条例》", "县商务局"),
    ("经济发展", "个体工商户和小微企业帮扶服务", "宣传惠企政策，协调解决经营主体困难",
     "《促进个体工商户发展条例》", "县市场监管局"),
    ("经济发展", "乡镇预算编制和执行管理", "编制乡镇财政预算并组织执行，做好决算和财务公开",
     "《中华人民共和国预算法》", "县财政局"),
    ("经济发展", "村级集体经济发展和集体资产管理", "指导村集体经济组织发展壮大，监督集体资产管理使用",
     "《中华人民共和国农村集体经济组织法》", "县农业农村局"),
    ("民生服务", "最低生活保障、特困供养、临时救助的申请受理和调查审核", "受理申请，开展入户调查、民主评议和审核",
     "《社会救助暂行办法》", "县民政局"),
    ("民生服务", "城乡居民基本养老保险参保登记和待遇资格认证", "办理参保登记、缴费核定和待遇领取资格认证",
     "《中华人民共和国社会保险法》", "县人力资源社会保障局"),
    ("民生服务", "城乡居民基本医疗保险参保动员", "组织参保宣传和动员，协助办理参保缴费",
     "《中华人民共和国社会保险法》", "县医疗保障局"),
    ("民生服务", "困难残疾人生活补贴和重度残疾人护理补贴申请受理", "受理申请并初审，定期开展复核",
     "《国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》", "县残联"),
    ("民生服务", "高龄津贴申请受理和发放核查", "受理高龄津贴申请，核查发放对象生存状况",
     "《中华人民共和国老年人权益保障法》", "县民政局"),
    ("民生服务", "农村留守儿童和困境儿童关爱保护", "建立台账，落实儿童主任走访和关爱帮扶",
     "《中华人民共和国未成年人保护法》", "县民政局"),
    ("民生服务", "退役军人服务保障和优抚对象走访慰问", "建立退役军人服务站，做好优抚对象走访慰问",
     "《中华人民共和国退役军人保障法》《军人抚恤优待条例》", "县退役军人事务局"),
    ("民生服务", "就业困难人员帮扶和就业信息发布", "登记就业困难人员，发布岗位信息，组织技能培训报名",
     "《中华人民共和国就业促进法》", "县人力资源社会保障局"),
    ("民生服务", "生育登记和计划生育特殊家庭帮扶", "办理生育登记，落实计划生育特殊家庭联系人制度",
     "《中华人民共和国人口与计划生育法》", "县卫生健康局"),
    ("民生服务", "公共文化服务和群众性文体活动组织", "管理综合文化站，组织群众性文化体育活动",
     "《中华人民共和国公共文化服务保障法》", "县文化和旅游局"),
    ("平安法治", "组织适龄公民兵役登记及应征公民初审", "组织兵役登记，开展应征公民初审初检",
     "《中华人民共和国兵役法》《征兵工作条例》", "县人武部"),
    ("平安法治", "矛盾纠纷排查化解与人民调解", "开展矛盾纠纷排查，组织人民调解委员会调解",
     "《中华人民共和国人民调解法》", "县司法局"),
    ("平安法治", "信访事项受理和办理", "受理群众来信来访，按规定办理并答复",
     "《信访工作条例》", "县信访局"),
    ("平安法治", "网格化服务管理", "划分网格，配备网格员，开展信息采集和隐患排查",
     "《中共中央 国务院关于加强基层治理体系和治理能力现代化建设的意见》", "县委政法委"),
    ("平安法治", "法治宣传教育和村（居）法律顾问服务", "组织普法宣传，落实村（居）法律顾问制度",
     "《中华人民共和国法律援助法》", "县司法局"),
    ("平安法治", "刑满释放人员安置帮教", "建立帮教小组，落实衔接、帮扶和教育措施",
     "《关于加强刑满释放人员救助管理工作的意见》", "县司法局"),
    ("应急管理", "防汛抗旱、森林防灭火的预警转移和先期处置", "发布预警，组织转移危险区域群众，开展先期处置",
     "《中华人民共和国防洪法》《森林防火条例》", "县应急管理局"),
    ("应急管理", "突发事件信息报告和先期处置", "及时报告突发事件信息，组织先期处置",
     "《中华人民共和国突发事件应对法》", "县应急管理局"),
    ("应急管理", "应急预案编制和应急演练", "编制乡镇总体应急预案，组织开展应急演练",
     "《中华人民共和国突发事件应对法》", "县应急管理局"),
    ("应急管理", "自然灾害救助和受灾群众生活安置", "核查灾情，发放救灾物资，安置受灾群众",
     "《自然灾害救助条例》", "县应急管理局"),
    ("应急管理", "安全生产宣传教育和隐患排查", "开展安全生产宣传，组织辖区隐患排查",
     "《中华人民共和国安全生产法》", "县应急管理局"),
    ("乡村振兴", "农村村民宅基地审核批准", "受理宅基地申请，审核批准并开展批后监管",
     "《中华人民共和国土地管理法》第六十二条", "县农业农村局"),
    ("乡村振兴", "防止返贫动态监测和帮扶", "开展监测对象识别，落实针对性帮扶措施",
     "《中华人民共和国乡村振兴促进法》", "县农业农村局"),
    ("乡村振兴", "农村土地承包经营权流转管理服务", "指导流转合同签订，调解承包经营纠纷",
     "《中华人民共和国农村土地承包法》", "县农业农村局"),
    ("乡村振兴", "小型农田水利设施管护", "落实小型农田水利设施管护责任",
     "《农田水利条例》", "县水利局"),
    ("乡村振兴", "农村人居环境整治", "组织村庄清洁行动，推进农村改厕和生活垃圾治理",
     "《中华人民共和国乡村振兴促进法》", "县农业农村局"),
    ("乡村振兴", "耕地保护和粮食生产", "落实耕地保护责任，组织粮食生产",
     "《中华人民共和国粮食安全保障法》", "县农业农村局"),
    ("生态环境", "河湖长制日常巡河", "组织乡村两级河湖长巡河，发现问题及时处置或报告",
     "《关于全面推行河长制的意见》", "县水利局"),
    ("生态环境", "林长制护林巡查", "落实护林员巡护，发现毁林行为及时制止和报告",
     "《中华人民共和国森林法》", "县林业局"),
    ("生态环境", "秸秆禁烧和综合利用", "开展秸秆禁烧巡查，推广秸秆综合利用",
     "《中华人民共和国大气污染防治法》", "县生态环境局"),
    ("综合保障", "政务公开和便民服务中心运行", "公开政务信息，管理便民服务中心和村级代办点",
     "《中华人民共和国政府信息公开条例》", "县政务服务中心"),
    ("综合保障", "村（居）民委员会选举组织指导", "指导村（居）民委员会依法组织换届选举",
     "《中华人民共和国村民委员会组织法》", "县民政局"),
    ("综合保障", "档案收集整理和保管利用", "做好机关和村级档案收集、整理、保管和利用",
     "《中华人民共和国档案法》", "县档案馆"),
    ("综合保障", "机关国有资产和公务用车管理", "管理机关国有资产、公务用车和后勤保障",
     "《行政事业性国有资产管理条例》", "县机关事务服务中心"),
]

# (category, name, county department, county duty, township duty, basis)
_COOPERATING: list[tuple[str, str, str, str, str, str]] = [
    ("平安法治", "消防安全检查与火灾隐患整治", "县消防救援大队", "监督检查与行政执法",
     "巡查发现火灾隐患并报告，督促整改", "《中华人民共和国消防法》"),
    ("平安法治", "社区矫正对象日常管理", "县司法局", "社区矫正执行和监督管理",
     "协助开展走访教育、信息核查和帮扶", "《中华人民共和国社区矫正法》"),
    ("平安法治", "禁毒宣传和涉毒人员排查", "县公安局", "禁毒执法和戒毒管理",
     "开展禁毒宣传，协助排查和社区戒毒社区康复", "《中华人民共和国禁毒法》"),
    ("平安法治", "严重精神障碍患者服务管理", "县卫生健康局", "患者救治和随访管理",
     "协助排查登记，落实看护管理", "《中华人民共和国精神卫生法》"),
    ("平安法治", "反电信网络诈骗宣传劝阻", "县公安局", "打击电信网络诈骗犯罪",
     "开展防诈宣传，协助预警劝阻", "《中华人民共和国反电信网络诈骗法》"),
    ("平安法治", "农村道路交通安全劝导", "县公安局交通警察大队", "道路交通安全执法",
     "设立劝导站，开展交通安全宣传劝导", "《中华人民共和国道路交通安全法》"),
    ("城乡建设", "违法用地、违法建设整治", "县自然资源局", "立案查处",
     "巡查、制止、报告", "《中华人民共和国土地管理法》《中华人民共和国城乡规划法》"),
    ("城乡建设", "农村低收入群体住房安全保障", "县住房和城乡建设局", "危房鉴定和改造资金管理",
     "排查摸底，组织申报和改造实施", "《关于做好农村低收入群体等重点对象住房安全保障工作的实施意见》"),
    ("城乡建设", "农村自建房安全排查整治", "县住房和城乡建设局", "制定整治方案，组织鉴定",
     "开展排查，督促整治，及时报告重大隐患", "《全国自建房安全专项整治工作方案》"),
    ("城乡建设", "农村公路养护管理", "县交通运输局", "规划建设和养护资金管理",
     "落实日常养护和路域环境整治", "《公路安全保护条例》"),
    ("乡村振兴", "高标准农田建设", "县农业农村局", "项目规划、审批和验收",
     "协助选址、群众协调和建后管护", "《中华人民共和国农业法》"),
    ("乡村振兴", "动物防疫和强制免疫", "县农业农村局", "动物疫病监测和防疫监督",
     "组织村级防疫员开展强制免疫和疫情报告", "《中华人民共和国动物防疫法》"),
    ("乡村振兴", "农产品质量安全监管协管", "县农业农村局", "农产品质量安全监督抽查",
     "开展巡查和快速检测，发现问题及时报告", "《中华人民共和国农产品质量安全法》"),
    ("乡村振兴", "农村供水工程运行管护", "县水利局", "供水工程建设和水质监管",
     "落实村级供水设施日常管护", "《中华人民共和国水法》"),
    ("市场监管", "食品安全协管巡查与信息报告", "县市场监管局", "食品安全监督检查和执法",
     "开展食品安全协管巡查，报告发现的问题", "《中华人民共和国食品安全法》"),
    ("市场监管", "农村集体聚餐备案指导", "县市场监管局", "制定集体聚餐管理规范",
     "受理备案，指导厨师和场所落实食品安全要求", "《中华人民共和国食品安全法》"),
    ("民生服务", "义务教育控辍保学", "县教育局", "学籍管理和控辍保学督导",
     "排查适龄儿童入学情况，配合劝返", "《中华人民共和国义务教育法》"),
    ("民生服务", "传染病防控和基本公共卫生服务", "县卫生健康局", "疫情监测和公共卫生服务管理",
     "组织群众参与疫苗接种和健康管理", "《中华人民共和国传染病防治法》"),
    ("民生服务", "爱国卫生运动", "县卫生健康局", "爱国卫生工作规划和考核",
     "组织环境卫生整治和健康教育", "《国务院关于深入开展爱国卫生运动的意见》"),
    ("民生服务", "殡葬改革和散埋乱葬治理", "县民政局", "殡葬管理和执法",
     "宣传殡葬政策，劝导制止乱埋乱葬", "《殡葬管理条例》"),
    ("民生服务", "欠薪线索排查和报告", "县人力资源社会保障局", "劳动保障监察执法",
     "排查欠薪线索，协助化解欠薪矛盾", "《保障农民工工资支付条例》"),
    ("民生服务", "残疾人康复服务", "县残联", "康复服务机构管理",
     "组织残疾人康复需求调查和服务对接", "《残疾预防和残疾康复条例》"),
    ("民生服务", "医疗保障基金使用监督协查", "县医疗保障局", "医疗保障基金监督检查",
     "协助核查，报告欺诈骗保线索", "《医疗保障基金使用监督管理条例》"),
    ("生态环境", "环境污染问题巡查报告", "县生态环境局", "环境监管执法",
     "开展环境巡查，发现污染问题及时报告", "《中华人民共和国环境保护法》"),
    ("生态环境", "畜禽养殖污染防治", "县生态环境局", "养殖污染监管执法",
     "排查养殖场户，督促落实粪污处理措施", "《畜禽规模养殖污染防治条例》"),
    ("生态环境", "林业有害生物防治", "县林业局", "监测预报和防治指导",
     "组织开展松材线虫病等疫木清理", "《中华人民共和国森林法》"),
    ("生态环境", "河道采砂监管协查", "县水利局", "河道采砂许可和执法",
     "巡查发现非法采砂并报告", "《中华人民共和国河道管理条例》"),
    ("生态环境", "野生动物保护宣传和救护报告", "县林业局", "野生动物保护执法",
     "开展保护宣传，发现受伤或违法猎捕及时报告", "《中华人民共和国野生动物保护法》"),
    ("应急管理", "地质灾害隐患点巡查监测", "县自然资源局", "地质灾害调查评价和治理",
     "落实群测群防员巡查监测和预警转移", "《地质灾害防治条例》"),
    ("应急管理", "危险化学品安全隐患排查报告", "县应急管理局", "危险化学品安全监管",
     "排查辖区危险化学品隐患并报告", "《危险化学品安全管理条例》"),
    ("应急管理", "燃气安全宣传和隐患排查", "县住房和城乡建设局", "燃气行业监管",
     "开展用气安全宣传，排查餐饮场所燃气隐患", "《城镇燃气管理条例》"),
    ("应急管理", "非煤矿山安全巡查", "县应急管理局", "非煤矿山安全监管执法",
     "巡查发现非法开采和安全隐患并报告", "《中华人民共和国矿山安全法》"),
    ("经济发展", "经济普查、农业普查等重大国情国力调查", "县统计局", "普查组织实施",
     "选聘普查员，组织入户登记", "《全国经济普查条例》《全国农业普查条例》"),
    ("经济发展", "重点项目征地拆迁", "县自然资源局", "征收审批和补偿方案制定",
     "开展调查摸底，做好群众工作", "《中华人民共和国土地管理法》《国有土地上房屋征收与补偿条例》"),
    ("综合保障", "流动人口信息采集", "县公安局", "户籍和流动人口管理",
     "协助采集流动人口信息", "《居住证暂行条例》"),
]

# (category, name, receiving department, working mode, basis)
_WITHDRAWN: list[tuple[str, str, str, str, str]] = [
    ("市场监管", "特种设备安全监管", "县市场监管局", "发现报告", "《中华人民共和国特种设备安全法》"),
    ("市场监管", "食品生产经营许可", "县市场监管局", "不再承担", "《中华人民共和国食品安全法》"),
    ("市场监管", "计量器具监督检查", "县市场监管局", "不再承担", "《中华人民共和国计量法》"),
    ("市场监管", "产品质量监督抽查", "县市场监管局", "不再承担", "《中华人民共和国产品质量法》"),
    ("市场监管", "价格违法行为查处", "县市场监管局", "发现报告", "《中华人民共和国价格法》"),
    ("卫生健康", "公共场所卫生行政执法", "县卫生健康局", "发现报告", "《公共场所卫生管理条例》"),
    ("卫生健康", "医疗机构执业活动监督检查", "县卫生健康局", "发现报告", "《医疗机构管理条例》"),
    ("卫生健康", "生活饮用水卫生监督", "县卫生健康局", "不再承担", "《中华人民共和国传染病防治法》"),
    ("城市管理", "物业管理方面的行政执法事项", "县城管执法局", "发现报告", "《物业管理条例》"),
    ("城市管理", "城市绿化方面的行政执法事项", "县城管执法局", "发现报告", "《城市绿化条例》"),
    ("城市管理", "城市道路挖掘占用行政执法", "县城管执法局", "发现报告", "《城市道路管理条例》"),
    ("城市管理", "户外广告设施设置审批", "县城管执法局", "不再承担", "《城市市容和环境卫生管理条例》"),
    ("城市管理", "社会生活噪声污染行政执法", "县城管执法局", "发现报告", "《中华人民共和国噪声污染防治法》"),
    ("城市管理", "建筑垃圾处置行政执法", "县城管执法局", "发现报告", "《城市建筑垃圾管理规定》"),
    ("生态环境", "建设项目环境影响评价审批", "市生态环境局县分局", "不再承担",
     "《中华人民共和国环境影响评价法》"),
    ("生态环境", "排污许可管理", "市生态环境局县分局", "不再承担", "《排污许可管理条例》"),
    ("生态环境", "固体废物污染环境行政执法", "市生态环境局县分局", "发现报告",
     "《中华人民共和国固体废物污染环境防治法》"),
    ("应急管理", "危险化学品经营许可和行政执法", "县应急管理局", "发现报告", "《危险化学品安全管理条例》"),
    ("应急管理", "烟花爆竹经营（零售）许可", "县应急管理局", "不再承担", "《烟花爆竹安全管理条例》"),
    ("应急管理", "工贸企业安全生产行政处罚", "县应急管理局", "发现报告", "《中华人民共和国安全生产法》"),
    ("乡村振兴", "矿产资源违法开采查处", "县自然资源局", "发现报告", "《中华人民共和国矿产资源法》"),
    ("乡村振兴", "林木采伐许可", "县林业局", "不再承担", "《中华人民共和国森林法》"),
    ("乡村振兴", "渔业行政执法", "县农业农村局", "发现报告", "《中华人民共和国渔业法》"),
    ("乡村振兴", "农药经营许可", "县农业农村局", "不再承担", "《农药管理条例》"),
    ("乡村振兴", "农作物种子生产经营许可", "县农业农村局", "不再承担", "《中华人民共和国种子法》"),
    ("乡村振兴", "生猪定点屠宰监督管理", "县农业农村局", "发现报告", "《生猪屠宰管理条例》"),
    ("综合保障", "道路运输经营许可", "县交通运输局", "不再承担", "《中华人民共和国道路运输条例》"),
    ("综合保障", "文化市场综合行政执法", "县文化和旅游局", "发现报告", "《营业性演出管理条例》"),
    ("综合保障", "出版物发行单位监督检查", "县文化和旅游局", "发现报告", "《出版管理条例》"),
    ("综合保障", "民办学校办学许可", "县教育局", "不再承担", "《中华人民共和国民办教育促进法》"),
    ("综合保障", "建筑施工安全监督管理", "县住房和城乡建设局", "发现报告", "《建设工程安全生产管理条例》"),
]


def build_sample_items() -> list[DutyItem]:
    """青山镇's draft: 46 basic, 35 cooperating and 31 withdrawn items, numbered
    from 1 in each part; it lints without a single problem."""
    items: list[DutyItem] = []
    for seq, (cat, name, content, basis, dept) in enumerate(_BASIC, 1):
        items.append(DutyItem(Part.BASIC, name, seq=seq, category=cat, content=content, basis=basis,
                              county_department=dept))
    for seq, (cat, name, dept, duty, content, basis) in enumerate(_COOPERATING, 1):
        items.append(DutyItem(Part.COOPERATING, name, seq=seq, category=cat, county_department=dept,
                              county_duty=duty, content=content, basis=basis))
    for seq, (cat, name, receiver, mode, basis) in enumerate(_WITHDRAWN, 1):
        items.append(DutyItem(Part.WITHDRAWN, name, seq=seq, category=cat, receiving_department=receiver,
                              working_mode=mode, basis=basis))
    return items


def _part_columns(part: Part, items: Sequence[DutyItem]) -> list[str]:
    fields = list(PART_HEADERS[part])
    if not any(i.subcategory for i in items):
        fields.remove("subcategory")
    return fields


def _cell(item: DutyItem, field_name: str) -> object:
    value = getattr(item, field_name)
    return value if value not in ("", None) else None


def write_xlsx(
    items: Sequence[DutyItem],
    path: Path,
    *,
    township: str = TOWNSHIP,
    title: str | None = None,
    one_sheet: bool = False,
    merge_categories: bool = True,
    blank_row_after: int | None = 10,
    headers: dict[str, str] | None = None,
) -> Path:
    """Save `items` as a drafter's workbook: a merged title row, the header,
    the items (category cells of consecutive equal categories merged), and a
    blank row after the `blank_row_after`-th item of each sheet.

    `one_sheet` writes one sheet "清单" with a 部分 column instead of one sheet
    per part; `headers` overrides header texts by field name ("part" included).
    Returns the path; open it with openpyxl to break it further.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    title = title or f"{township}履行职责事项清单（征求意见稿）"
    groups: list[tuple[str, Part | None, list[DutyItem], list[str], dict[str, str]]] = []
    if one_sheet:
        fields = list(FLAT_HEADERS)
        if not any(i.subcategory for i in items):
            fields.remove("subcategory")
        groups.append(("清单", None, list(items), fields, {**FLAT_HEADERS, **(headers or {})}))
    else:
        for part in PART_ORDER:
            part_items = [i for i in items if i.part == part]
            if part_items:
                groups.append((PART_SHEETS[part], part, part_items, _part_columns(part, part_items),
                               {**PART_HEADERS[part], **(headers or {})}))
    for sheet_name, _part, group, fields, labels in groups:
        ws = wb.create_sheet(sheet_name)
        ws.append([title] + [None] * (len(fields) - 1))
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(fields))
        ws.cell(1, 1).font = Font(bold=True, size=14)
        ws.cell(1, 1).alignment = Alignment(horizontal="center")
        ws.append([labels[f] for f in fields])
        for c in range(1, len(fields) + 1):
            ws.cell(2, c).font = Font(bold=True)
        written: list[tuple[int, DutyItem]] = []
        row = 2
        for n, item in enumerate(group, 1):
            ws.append([PART_SHEETS[item.part] if f == "part" else _cell(item, f) for f in fields])
            row += 1
            written.append((row, item))
            if blank_row_after is not None and n == blank_row_after and n < len(group):
                ws.append([None] * len(fields))
                row += 1
        if merge_categories and "category" in fields:
            col = fields.index("category") + 1
            _merge_runs(ws, col, written)
        for c, f in enumerate(fields, 1):
            ws.column_dimensions[get_column_letter(c)].width = 40 if f in ("name", "content", "basis") else 14
    path = Path(path)
    wb.save(path)
    return path


def _merge_runs(ws: object, col: int, written: list[tuple[int, DutyItem]]) -> None:
    """Merge the category cells of runs of adjacent rows with the same category,
    clearing all but the top cell as Excel does."""
    run: list[int] = []
    previous: tuple[int, str, Part] | None = None

    def close() -> None:
        if len(run) > 1:
            for r in run[1:]:
                ws.cell(r, col).value = None  # type: ignore[attr-defined]
            ws.merge_cells(start_row=run[0], start_column=col, end_row=run[-1], end_column=col)  # type: ignore[attr-defined]

    for row, item in written:
        key = (row, item.category, item.part)
        if previous is not None and row == previous[0] + 1 and item.category and \
                (item.category, item.part) == (previous[1], previous[2]):
            run.append(row)
        else:
            close()
            run = [row]
        previous = key
    close()


def write_csv(items: Sequence[DutyItem], path: Path, encoding: str = "gbk", *, title: str | None = None,
              delimiter: str = ",") -> Path:
    """Save `items` as one table with a 部分 column, in `encoding` ("gbk",
    "gb18030", "utf-8", "utf-8-sig", "utf-16" …), as Excel's "save as CSV" does.
    An optional title line goes above the header."""
    fields = list(FLAT_HEADERS)
    if not any(i.subcategory for i in items):
        fields.remove("subcategory")
    path = Path(path)
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        if title:
            writer.writerow([title] + [""] * (len(fields) - 1))
        writer.writerow([FLAT_HEADERS[f] for f in fields])
        for item in items:
            writer.writerow([PART_SHEETS[item.part] if f == "part" else (_cell(item, f) or "") for f in fields])
    return path


def main() -> None:
    items = build_sample_items()
    xlsx = write_xlsx(items, HERE / "sample_draft.xlsx")
    csv_path = write_csv(items, HERE / "sample_draft_gbk.csv", "gbk",
                         title=f"{TOWNSHIP}履行职责事项清单（征求意见稿）")
    counts = {p.value: sum(1 for i in items if i.part == p) for p in PART_ORDER}
    print(f"wrote {xlsx.name} and {csv_path.name}: {len(items)} items {counts}")


if __name__ == "__main__":
    main()
